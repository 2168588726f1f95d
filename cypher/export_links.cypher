// Returns one row per relationship type for export: type and parallel lists sources, targets (keys), weights, scores (-1.0 where unset) and origins ('' where unset).
// params: none
// Flat collected lists cross Bolt several times faster than a row (or a nested list) per link.
// surface: internal
MATCH (a)-[r]->(b)
WITH type(r) AS type,
     collect(coalesce(a.id, a.name)) AS sources, collect(coalesce(b.id, b.name)) AS targets,
     collect(coalesce(r.weight, -1.0)) AS weights, collect(coalesce(r.score, -1.0)) AS scores,
     collect(coalesce(r.source, '')) AS origins
RETURN type, sources, targets, weights, scores, origins
