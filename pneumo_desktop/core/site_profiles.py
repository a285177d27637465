"""Site profiles: one version of a site's calibration, never changed once written, kept as JSON
files under the user's data folder (split out of ``core.site``, #18)."""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import PneumoError
from .paths import user_data_dir

if TYPE_CHECKING:
    from .site import Calibration

log = logging.getLogger(__name__)

_SITE_NAME = re.compile(r"^[\w][\w .\-]{0,63}$")


class SiteError(PneumoError):
    """Calibration input or profile problem; ``str(err)`` is a sentence for the user."""


@dataclass(frozen=True)
class SiteProfile:
    """One version of a site's calibration. Never changed once written."""

    site: str
    version: int
    created: str  # ISO 8601, UTC
    user: str  # who ran it (the operating-system user name)
    model_name: str
    model_version: str
    model_sha256: str
    threshold: float
    target_sensitivity: float
    n_pos: int
    n_neg: int
    n_refused: int
    file_list_hash: str
    metrics: dict[str, Any] = field(default_factory=dict, repr=False)
    roc: tuple[tuple[float, float], ...] = field(default=(), repr=False)
    source: str = ""  # the folder or CSV the films came from

    @property
    def model_title(self) -> str:
        return f"{self.model_name} {self.model_version}"

    @property
    def label(self) -> str:
        """How the app names the profile: ``'Clinic A' v2``."""
        return f"'{self.site}' v{self.version}"

    def mismatch(self, model: Any) -> str:
        """Why this profile does not apply to ``model`` (anything with name, version, sha256), or ``""``."""
        name, version = str(getattr(model, "name", "")), str(getattr(model, "version", ""))
        sha = str(getattr(model, "sha256", "")).lower()
        if (name, version) != (self.model_name, self.model_version):
            return (
                f"site profile {self.label} was calibrated for model {self.model_title}, not "
                f"{name} {version}; calibrate again with this model"
            )
        if sha and sha != self.model_sha256.lower():
            return (
                f"site profile {self.label} was calibrated on other weights of {self.model_title} "
                f"(sha256 {self.model_sha256[:12]}... instead of {sha[:12]}...); calibrate again"
            )
        return ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["roc"] = [list(pt) for pt in self.roc]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SiteProfile:
        data = dict(d)
        data["roc"] = tuple(tuple(pt) for pt in data.get("roc", ()))
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def make_profile(
    site: str, version: int, cal: Calibration, model: Any, source: str = "", user: str | None = None
) -> SiteProfile:
    return SiteProfile(
        site=site,
        version=version,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        user=user if user is not None else _user(),
        model_name=str(model.name),
        model_version=str(model.version),
        model_sha256=str(model.sha256).lower(),
        threshold=cal.threshold,
        target_sensitivity=cal.target,
        n_pos=cal.n_pos,
        n_neg=cal.n_neg,
        n_refused=cal.n_refused,
        file_list_hash=cal.file_list_hash,
        metrics=json.loads(json.dumps(cal.metrics(), allow_nan=True)),
        roc=cal.roc,
        source=source,
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name on this system: say so rather than fail
        return "unknown"


def check_site_name(name: str) -> str:
    name = name.strip()
    if not _SITE_NAME.match(name):
        raise SiteError(
            "A site name uses letters, digits, spaces, '.', '-' or '_' (at most 64), e.g. 'Clinic A'."
        )
    return name


class ProfileStore:
    """Site profiles as JSON files: ``<data>/sites/<site>/v0001.json``, ``v0002.json``... Each
    version is created exclusively (never overwritten); the latest version is the site's profile.
    The app's active site is named in ``<data>/sites/active.json``."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else user_data_dir() / "sites"

    def _folder(self, site: str) -> Path:
        slug = re.sub(r"[^\w.-]", "_", check_site_name(site).casefold())
        return self.root / slug

    def add(
        self, site: str, cal: Calibration, model: Any, source: str = "", user: str | None = None
    ) -> SiteProfile:
        """Record a new version of ``site``'s profile and return it."""
        site = check_site_name(site)
        folder = self._folder(site)
        folder.mkdir(parents=True, exist_ok=True)
        version = max((p.version for p in self.versions(site)), default=0) + 1
        while True:
            profile = make_profile(site, version, cal, model, source, user)
            path = folder / f"v{version:04d}.json"
            try:
                with open(path, "x", encoding="utf-8") as fh:  # exclusive: never overwrite a version
                    json.dump(profile.to_dict(), fh, indent=2)
                    fh.write("\n")
            except FileExistsError:
                version += 1  # another process took that number meanwhile
                continue
            log.info("site profile %s recorded (threshold %.4f)", profile.label, profile.threshold)
            return profile

    def versions(self, site: str) -> list[SiteProfile]:
        folder = self._folder(site)
        out = []
        for path in sorted(folder.glob("v*.json")) if folder.is_dir() else []:
            try:
                out.append(SiteProfile.from_dict(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("site profile %s cannot be read: %s", path.name, exc)
        return sorted(out, key=lambda p: p.version)

    def latest(self, site: str) -> SiteProfile | None:
        versions = self.versions(site)
        return versions[-1] if versions else None

    def sites(self) -> list[str]:
        names = []
        for folder in sorted(self.root.glob("*/")) if self.root.is_dir() else []:
            latest = max(folder.glob("v*.json"), default=None)
            if latest is not None:
                try:
                    names.append(json.loads(latest.read_text(encoding="utf-8"))["site"])
                except (OSError, ValueError, KeyError):
                    continue
        return names

    # -- the app's active site --------------------------------------------------------------
    def active_site(self) -> str | None:
        try:
            return json.loads((self.root / "active.json").read_text(encoding="utf-8"))["site"] or None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def set_active(self, site: str | None) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / "active.json.tmp"
        tmp.write_text(json.dumps({"site": check_site_name(site) if site else None}), encoding="utf-8")
        os.replace(tmp, self.root / "active.json")

    def active(self) -> SiteProfile | None:
        site = self.active_site()
        try:
            return self.latest(site) if site else None
        except SiteError:  # a hand-edited active.json: no active profile rather than no app
            log.warning("the active site name in %s is not valid", self.root / "active.json")
            return None
