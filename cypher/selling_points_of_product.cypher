// Returns the selling points of a product: id, text, source, and clips (how many clips express it).
// params: $product (Product id)
// surface: analyst
MATCH (p:Product {id: $product})-[:HAS_SELLING_POINT]->(s:SellingPoint)
OPTIONAL MATCH (c:Clip)-[:EXPRESSES]->(s)
RETURN s.id AS id, s.text AS text, s.source AS source, count(c) AS clips
ORDER BY id
