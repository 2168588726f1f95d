// Returns the clips that express a selling point, strongest first: clip, caption, uri, weight, source.
// params: $selling_point (SellingPoint id)
// surface: analyst
MATCH (c:Clip)-[e:EXPRESSES]->(s:SellingPoint {id: $selling_point})
RETURN c.id AS clip, c.caption AS caption, c.uri AS uri, e.weight AS weight, e.source AS source
ORDER BY weight DESC, clip
