"""Languages: the seven the patient pages speak, the catalogs, negotiation and locale formatting.

    languages   the codes, each language's name in itself, its writing direction, its locale
    catalogs    the gettext catalogs (locale/<lang>/LC_MESSAGES/relay.po, compiled to .mo)
    templates   gettext for Jinja2 templates, escaping what a translation says
    negotiate   which language a request asks for: `?lang=`, then Accept-Language

Imports no other wing; every wing may import it.
"""
