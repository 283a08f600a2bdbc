"""HTTP request bodies: JSON bodies parsed by the routes themselves, and the body-size limit middleware.

(Not named ``http`` so that running a module of this package as a script cannot shadow the standard library.)
"""
