// Returns the clips curated as expressing a selling point, best first: clip, uri, caption, weight, motion (descriptor or null), patterns (list of {name, score}, strongest first).
// params: $selling_point (SellingPoint id), $k (how many clips at most)
// surface: internal
MATCH (c:Clip)-[e:EXPRESSES]->(:SellingPoint {id: $selling_point})
WHERE e.source = 'curated'
WITH c, coalesce(e.weight, 1.0) AS weight
ORDER BY weight DESC, c.id
LIMIT $k
OPTIONAL MATCH (c)-[h:HAS_MOTION]->(m:MotionPattern)
WITH c, weight, m, coalesce(h.score, 0.0) AS score
ORDER BY weight DESC, c.id, score DESC, m.name
RETURN c.id AS clip, c.uri AS uri, c.caption AS caption, weight, c.motion AS motion,
       [p IN collect({name: m.name, score: score}) WHERE p.name IS NOT NULL] AS patterns
ORDER BY weight DESC, clip
