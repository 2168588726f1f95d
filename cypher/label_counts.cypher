// Returns, per node label: label, nodes (count) and with_embedding (how many carry an embedding).
// params: none
// surface: analyst
MATCH (n)
UNWIND labels(n) AS label
RETURN label, count(*) AS nodes, count(n.embedding) AS with_embedding
ORDER BY label
