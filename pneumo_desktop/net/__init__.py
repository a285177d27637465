"""DICOM networking (Qt-free): receive films by C-STORE, send results back to a PACS.

Nothing here listens or connects unless the user switched it on (``pneumo-scan receive``, the
app's DICOM network settings, ``--send-to``). pynetdicom is imported only when it is used.
"""
