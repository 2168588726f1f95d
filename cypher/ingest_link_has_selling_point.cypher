// Merges (Product)-[:HAS_SELLING_POINT]->(SellingPoint) links between existing nodes; sets the given properties. Returns how many it merged.
// params: $rows (list of {source, target, props})
// surface: internal
UNWIND $rows AS row
MATCH (a:Product {id: row.source})
MATCH (b:SellingPoint {id: row.target})
MERGE (a)-[r:HAS_SELLING_POINT]->(b)
SET r += row.props
RETURN count(r) AS merged
