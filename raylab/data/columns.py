"""Column names shared by shards, the Ray Data pipeline and the train worker.

Shard rows (one per video) carry the encoded bytes plus what decoding needs without probing the
file again: the sorted presentation timestamps of every frame, so that frame i can be fetched by
seeking to the keyframe before pts[i]. Batches add the clip plan and ids used by evaluation.
"""

# --- shard rows (written by ingest, read by the pipeline) ---
VIDEO_ID = "video_id"          # str, unique, e.g. "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01"
LABEL = "label"                # int32, 0-based index into manifest["classes"]
CLASS_NAME = "class_name"      # str
SPLIT = "split"                # "train" | "test"
GROUP = "group"                # int32, UCF-101 group number (gNN); 0 where a dataset has none
VIDEO_BYTES = "video_bytes"    # binary, the original file's bytes, never re-encoded
NUM_FRAMES = "num_frames"      # int32
FRAME_PTS = "frame_pts"        # list<int64>, sorted pts of every frame, in stream time_base units
TIME_BASE = "time_base"        # float64, seconds per pts unit
FPS = "fps"                    # float32, average frame rate
WIDTH = "width"                # int32
HEIGHT = "height"              # int32
CODEC = "codec"                # str, FFmpeg codec name (e.g. "mpeg4")
SOURCE_PATH = "source_path"    # str, path relative to the videos folder (UCF-101/ or --root)

# --- pipeline batches (after clip planning and decoding) ---
CLIP_INDEX = "clip_index"      # int32, which clip of its video (0..K-1)
EPOCH = "epoch"                # int32, the epoch a training clip was planned for
FRAME_INDICES = "frame_indices"  # list<int32>, frame numbers of the clip, ascending
FRAMES = "frames"              # uint8 (T, H, W, 3)
DECODE_OK = "decode_ok"        # bool, False when decoding failed (frames are zeros then)

SHARD_SPLITS = ("train", "test")
MANIFEST = "manifest.json"

# --- image shard rows (raylab ingest imagenet); pipeline batches reuse VIDEO_ID for the image id
IMAGE_ID = "image_id"          # str, unique, e.g. "train/n01440764/n01440764_10026"
IMAGE_BYTES = "image_bytes"    # binary, the original JPEG's bytes, never re-encoded
