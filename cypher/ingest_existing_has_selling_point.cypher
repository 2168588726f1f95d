// Returns the existing (Product)-[:HAS_SELLING_POINT]->(SellingPoint) links among the given pairs, with their properties.
// params: $rows (list of {source, target})
// surface: internal
UNWIND $rows AS row
MATCH (a:Product {id: row.source})-[r:HAS_SELLING_POINT]->(b:SellingPoint {id: row.target})
RETURN row.source AS source, row.target AS target, properties(r) AS props
