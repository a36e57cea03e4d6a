"""Printed documents: the gazette notice as a PDF (WeasyPrint) and its chart (matplotlib), the
disclosure letters and statistics (``disclosure``)."""
