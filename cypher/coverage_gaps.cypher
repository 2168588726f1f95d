// Returns the selling points that no clip expresses (coverage gaps): product, selling_point, text.
// params: none
// surface: analyst
MATCH (p:Product)-[:HAS_SELLING_POINT]->(s:SellingPoint)
WHERE NOT EXISTS { MATCH (:Clip)-[:EXPRESSES]->(s) }
RETURN p.id AS product, s.id AS selling_point, s.text AS text
ORDER BY product, selling_point
