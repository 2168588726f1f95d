// Returns one clip's metadata for `kdcvg serve`: clip (id), kind, caption, uri, duration_s,
// fps, width, height, product (id or null), selling_points (list of {id, weight, source}),
// motion (list of {name, score}, strongest first). params: clip
// surface: internal
MATCH (c:Clip {id: $clip})
OPTIONAL MATCH (c)-[:SHOWS]->(p:Product)
WITH c, head(collect(DISTINCT p.id)) AS product
OPTIONAL MATCH (c)-[e:EXPRESSES]->(s:SellingPoint)
WITH c, product, [x IN collect({id: s.id, weight: e.weight, source: e.source})
                  WHERE x.id IS NOT NULL] AS selling_points
OPTIONAL MATCH (c)-[h:HAS_MOTION]->(m:MotionPattern)
WITH c, product, selling_points, m, h ORDER BY h.score DESC
RETURN c.id AS clip, c.kind AS kind, c.caption AS caption, c.uri AS uri,
       c.duration_s AS duration_s, c.fps AS fps, c.width AS width, c.height AS height,
       product, selling_points,
       [x IN collect({name: m.name, score: h.score}) WHERE x.name IS NOT NULL] AS motion
