"""Finding courseware: text extraction, search engines and the indexing pipeline.

- :mod:`indexer.extract` sniffs a file's type from its content and pulls out its text,
  metadata and (for SCORM / Common Cartridge / QTI packages) its outline.
- :mod:`indexer.engines` holds the search-engine interface and its backends: an embedded
  tantivy index (the default) and, later, Elasticsearch.
- :mod:`indexer.documents` turns a resource into the document engines index, including
  the access tokens that keep search results inside what the asker may see.
"""
