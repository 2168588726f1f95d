// Returns the existing (SellingPoint)-[:SUGGESTS]->(MotionPattern) links among the given pairs, with their properties.
// params: $rows (list of {source, target})
// surface: internal
UNWIND $rows AS row
MATCH (a:SellingPoint {id: row.source})-[r:SUGGESTS]->(b:MotionPattern {name: row.target})
RETURN row.source AS source, row.target AS target, properties(r) AS props
