// Returns one selling point of a product for an ad: id, text (no row when it is not the product's).
// params: $product (Product id), $selling_point (SellingPoint id)
// surface: internal
MATCH (:Product {id: $product})-[:HAS_SELLING_POINT]->(s:SellingPoint {id: $selling_point})
RETURN s.id AS id, s.text AS text
