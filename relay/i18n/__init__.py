"""Languages: the seven the patient pages speak, the catalogs, negotiation and locale formatting.

Imports no other wing; every wing may import it.
"""
