// Returns every product, by id: id, name, brand, category (its category's name, or the property).
// params: none
// surface: analyst
MATCH (p:Product)
OPTIONAL MATCH (p)-[:IN_CATEGORY]->(c:Category)
RETURN p.id AS id, p.name AS name, p.brand AS brand, coalesce(c.name, p.category) AS category
ORDER BY id
