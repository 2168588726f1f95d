"""Named Cypher queries, shipped inside the package as kdcvg.cypher (see kdcvg/graph/queries.py)."""
