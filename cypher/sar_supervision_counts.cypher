// Returns what SAR can learn from: clips, stills (clips of kind 'still'), curated_links (curated EXPRESSES links), linked_points (selling points they reach).
// params: none
// surface: internal
MATCH (c:Clip)
WITH count(c) AS clips, sum(CASE WHEN c.kind = 'still' THEN 1 ELSE 0 END) AS stills
OPTIONAL MATCH (:Clip)-[e:EXPRESSES]->(s:SellingPoint)
WHERE e.source = 'curated'
RETURN clips, stills, count(e) AS curated_links, count(DISTINCT s) AS linked_points
