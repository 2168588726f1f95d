// Returns every selling point for the motion linker: id, embedding, category (its product's category name, or the property), curated (names of the motion patterns curators linked it to; links without a source count as curated).
// params: none
// surface: internal
MATCH (s:SellingPoint)
OPTIONAL MATCH (p:Product)-[:HAS_SELLING_POINT]->(s)
OPTIONAL MATCH (p)-[:IN_CATEGORY]->(c:Category)
WITH s, head(collect(coalesce(c.name, p.category))) AS category
RETURN s.id AS id, s.embedding AS embedding, category,
       [(s)-[r:SUGGESTS]->(m:MotionPattern) WHERE coalesce(r.source, 'curated') <> 'auto' | m.name]
         AS curated
ORDER BY id
