// Returns one row per relationship type for export: type, rows (a list of [source key, target key, weight, score, source kind]).
// params: none
// One row per type with collected lists crosses Bolt several times faster than a row per link.
MATCH (a)-[r]->(b)
WITH type(r) AS type,
     collect([coalesce(a.id, a.name), coalesce(b.id, b.name), r.weight, r.score, r.source]) AS rows
RETURN type, rows
