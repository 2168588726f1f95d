"""`kdcvg serve`: one warm process per store, an HTTP JSON API and a web page over it."""
