// Returns one product for an ad: id, name, brand, description, category (its category's name, or the property).
// params: $product (Product id)
// surface: internal
MATCH (p:Product {id: $product})
OPTIONAL MATCH (p)-[:IN_CATEGORY]->(c:Category)
RETURN p.id AS id, p.name AS name, p.brand AS brand, p.description AS description,
       coalesce(c.name, p.category) AS category
LIMIT 1
