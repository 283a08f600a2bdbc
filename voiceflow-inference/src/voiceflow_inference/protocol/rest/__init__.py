"""`POST /infer` (the REST API): wire types and the request codec."""
