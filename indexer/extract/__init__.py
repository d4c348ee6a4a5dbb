"""Type sniffing and text extraction (see :func:`indexer.extract.core.extract`)."""
