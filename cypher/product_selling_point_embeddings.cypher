// Returns the selling points of a product with their embeddings (for near-duplicate checks): id, text, embedding.
// params: $product (Product id)
// surface: internal
MATCH (:Product {id: $product})-[:HAS_SELLING_POINT]->(s:SellingPoint)
RETURN s.id AS id, s.text AS text, s.embedding AS embedding
ORDER BY id
