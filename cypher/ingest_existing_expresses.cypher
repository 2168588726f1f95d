// Returns the existing (Clip)-[:EXPRESSES]->(SellingPoint) links among the given pairs, with their properties.
// params: $rows (list of {source, target})
// surface: internal
UNWIND $rows AS row
MATCH (a:Clip {id: row.source})-[r:EXPRESSES]->(b:SellingPoint {id: row.target})
RETURN row.source AS source, row.target AS target, properties(r) AS props
