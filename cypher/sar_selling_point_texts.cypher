// Returns every selling point's text for SAR: selling_point (id), text, product (id or null).
// params: none
// surface: internal
MATCH (s:SellingPoint)
OPTIONAL MATCH (p:Product)-[:HAS_SELLING_POINT]->(s)
RETURN s.id AS selling_point, s.text AS text, head(collect(p.id)) AS product
