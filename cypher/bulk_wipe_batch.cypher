// Deletes up to $limit nodes with their relationships (undoing a failed --bulk load into an empty database); returns how many.
// params: $limit (nodes per call)
// surface: internal
MATCH (n)
WITH n LIMIT $limit
DETACH DELETE n
RETURN count(*) AS deleted
