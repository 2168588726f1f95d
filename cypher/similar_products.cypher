// Returns the products most similar to a product: product, name, shared (suggested motion patterns in common, curated or automatic), same_category, text_similarity (best cosine between a selling point of each; 0.0 when below 0.6 or without embeddings).
// params: $product (Product id), $limit (how many)
// surface: analyst
// A product qualifies by a shared pattern, the same category, or a close selling point
// (the selling-point vector index, 25 nearest per selling point; its score is (1 + cosine) / 2).
MATCH (p:Product {id: $product})
CALL (p) {
  MATCH (p)-[:HAS_SELLING_POINT]->(:SellingPoint)-[:SUGGESTS]->(m:MotionPattern)
        <-[:SUGGESTS]-(:SellingPoint)<-[:HAS_SELLING_POINT]-(other:Product)
  WHERE other <> p
  RETURN other, count(DISTINCT m) AS shared, 0 AS category, 0.0 AS text
  UNION ALL
  MATCH (p)-[:IN_CATEGORY]->(:Category)<-[:IN_CATEGORY]-(other:Product)
  WHERE other <> p
  RETURN DISTINCT other, 0 AS shared, 1 AS category, 0.0 AS text
  UNION ALL
  MATCH (p)-[:HAS_SELLING_POINT]->(a:SellingPoint)
  WHERE a.embedding IS NOT NULL
  CALL db.index.vector.queryNodes('SellingPoint[embedding]', 25, a.embedding) YIELD node, score
  MATCH (other:Product)-[:HAS_SELLING_POINT]->(node)
  WHERE other <> p AND 2 * score - 1 >= 0.6
  RETURN other, 0 AS shared, 0 AS category, max(2 * score - 1) AS text
}
WITH other, max(shared) AS shared, max(category) = 1 AS same_category, max(text) AS text
RETURN other.id AS product, other.name AS name, shared, same_category,
       round(text * 1000) / 1000.0 AS text_similarity
ORDER BY shared DESC, same_category DESC, text_similarity DESC, product
LIMIT $limit
