// Returns the products most similar to a product by shared suggested motion patterns and category: product, name, shared, same_category.
// params: $product (Product id), $limit (how many)
// surface: analyst
MATCH (p:Product {id: $product})-[:HAS_SELLING_POINT]->(:SellingPoint)-[:SUGGESTS]->(m:MotionPattern)
      <-[:SUGGESTS]-(:SellingPoint)<-[:HAS_SELLING_POINT]-(other:Product)
WHERE other <> p
WITH p, other, count(DISTINCT m) AS shared
OPTIONAL MATCH (p)-[:IN_CATEGORY]->(cat:Category)<-[:IN_CATEGORY]-(other)
RETURN other.id AS product, other.name AS name, shared, cat IS NOT NULL AS same_category
ORDER BY shared DESC, same_category DESC, product
LIMIT $limit
