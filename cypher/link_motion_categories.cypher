// Returns every category for the motion linker: name, embedding.
// params: none
// surface: internal
MATCH (c:Category)
RETURN c.name AS name, c.embedding AS embedding
ORDER BY name
