// Returns the motion patterns a selling point suggests: name, score, source; curated links first, then strongest.
// params: $selling_point (SellingPoint id)
// surface: internal
MATCH (:SellingPoint {id: $selling_point})-[r:SUGGESTS]->(m:MotionPattern)
WITH m.name AS name, coalesce(r.score, 1.0) AS score, coalesce(r.source, 'curated') AS source
RETURN name, score, source
ORDER BY CASE source WHEN 'auto' THEN 1 ELSE 0 END, score DESC, name
