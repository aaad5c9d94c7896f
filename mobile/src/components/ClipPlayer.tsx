// An event's clip, streamed from central's presigned link (expo-video).
import { useVideoPlayer, VideoView } from "expo-video";

export function ClipPlayer({ url }: { url: string }) {
  const player = useVideoPlayer(url, (p) => { p.muted = true; });
  return <VideoView testID="clip" player={player} style={{ width: "100%", aspectRatio: 16 / 9 }} nativeControls />;
}
