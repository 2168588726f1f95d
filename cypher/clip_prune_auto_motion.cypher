// Deletes a clip's automatic HAS_MOTION links that its new analysis no longer earns (curated links are never touched); returns how many.
// params: $clip (Clip id), $keep (list of MotionPattern names the new analysis links)
// surface: internal
MATCH (c:Clip {id: $clip})-[r:HAS_MOTION]->(m:MotionPattern)
WHERE r.source = 'auto' AND NOT m.name IN $keep
DELETE r
RETURN count(*) AS deleted
