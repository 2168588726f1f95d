// Returns the motion patterns most used per category (clips showing its products): category, pattern, kind, clips.
// params: $limit (rows per category)
// surface: analyst
MATCH (cat:Category)<-[:IN_CATEGORY]-(:Product)<-[:SHOWS]-(c:Clip)-[:HAS_MOTION]->(m:MotionPattern)
WITH cat.name AS category, m.name AS pattern, m.kind AS kind, count(DISTINCT c) AS clips
ORDER BY category, clips DESC, pattern
WITH category, collect({pattern: pattern, kind: kind, clips: clips}) AS ranked
UNWIND ranked[0..$limit] AS top
RETURN category, top.pattern AS pattern, top.kind AS kind, top.clips AS clips
ORDER BY category, clips DESC, pattern
