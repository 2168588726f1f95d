// Returns, per relationship type: type and relationships (count).
// params: none
// surface: analyst
MATCH ()-[r]->()
RETURN type(r) AS type, count(*) AS relationships
ORDER BY type
