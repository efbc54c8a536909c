"""HTTP: the routes, pages, JSON and practice APIs, middleware, templates and static files.

May import every wing below it; only the top (`__main__`, `dev`, `app`) imports it.
"""
