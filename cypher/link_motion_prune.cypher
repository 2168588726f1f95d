// Deletes the automatic SUGGESTS links of selling points that the linker's new ranking drops (curated links are never touched); returns how many.
// params: $rows (list of {selling_point: SellingPoint id, keep: MotionPattern names to keep})
// surface: internal
UNWIND $rows AS row
MATCH (:SellingPoint {id: row.selling_point})-[r:SUGGESTS]->(m:MotionPattern)
WHERE r.source = 'auto' AND NOT m.name IN row.keep
DELETE r
RETURN count(*) AS deleted
