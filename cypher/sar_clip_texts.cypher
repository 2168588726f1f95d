// Returns every clip's text for SAR: clip (id), caption, uri, product (id or null),
// selling_points (texts of the selling points it EXPRESSES), motion (list of {name, score},
// strongest first). params: none
// surface: internal
MATCH (c:Clip)
OPTIONAL MATCH (c)-[:SHOWS]->(p:Product)
OPTIONAL MATCH (c)-[:EXPRESSES]->(s:SellingPoint)
WITH c, head(collect(DISTINCT p.id)) AS product, collect(DISTINCT s.text) AS selling_points
OPTIONAL MATCH (c)-[h:HAS_MOTION]->(m:MotionPattern)
WITH c, product, selling_points, m, h ORDER BY h.score DESC
RETURN c.id AS clip, c.caption AS caption, c.uri AS uri, product, selling_points,
       [x IN collect({name: m.name, score: h.score}) WHERE x.name IS NOT NULL] AS motion
