"""Wire formats of the HTTP front doors: pydantic types and codecs, apart from the route handlers."""
