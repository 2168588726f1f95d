// Returns the existing (Clip)-[:SHOWS]->(Product) links among the given pairs, with their properties.
// params: $rows (list of {source, target})
// surface: internal
UNWIND $rows AS row
MATCH (a:Clip {id: row.source})-[r:SHOWS]->(b:Product {id: row.target})
RETURN row.source AS source, row.target AS target, properties(r) AS props
