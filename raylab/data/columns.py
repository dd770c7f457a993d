"""Column names shared by shards, the Ray Data pipeline and the train worker.

Shard rows (one per video, or per keyframe-aligned segment of a long video) carry the encoded
bytes plus what decoding needs without probing the file again: the sorted presentation timestamps
of every frame, so that frame i can be fetched by seeking to the keyframe before pts[i]. Batches
add the clip plan and ids used by evaluation.
"""

# --- shard rows (written by ingest, read by the pipeline) ---
VIDEO_ID = "video_id"          # str, the source video ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01",
                               # a YouTube id); the segments of one video share it, so
                               # evaluation pools them into one video score
SEGMENT = "segment"            # int32, segment number within the video (0 for a whole video);
                               # (video_id, segment) is unique
LABEL = "label"                # int32, 0-based index into manifest["classes"]; the first of labels
LABELS = "labels"              # list<int32>, every label of the video (Sports-1M: ~5% have >1)
CLASS_NAME = "class_name"      # str
SPLIT = "split"                # "train" | "val" | "test"
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
FRAMES = "frames"              # uint8 (T, H, W, 3); flow datasets: float16 stack (2L, H, W)
FRAME_INDEX = "frame_index"    # int32, the sampled frame t (a flow stack starts at flow t)
VIEW_INDEX = "view_index"      # int32, test view of a sample (flow_augment.TEN_CROP_VIEWS)
PROBS = "probs"                # float32 (num_classes,), softmax scores of one view
DECODE_OK = "decode_ok"        # bool, False when decoding failed (frames are zeros then)

# --- flow shard rows (written by `raylab flow`, one per video; see flow_shards.py) ---
NUM_FLOWS = "num_flows"        # int32, num_frames - 1: flow i is from frame i to frame i + 1
FLOW_X = "flow_x"              # list<binary>, num_flows JPEG-encoded uint8 x (right) fields
FLOW_Y = "flow_y"              # list<binary>, num_flows JPEG-encoded uint8 y (down) fields
# (flow rows also carry VIDEO_ID, LABEL, CLASS_NAME, SPLIT, GROUP, and HEIGHT/WIDTH of the fields)

SHARD_SPLITS = ("train", "val", "test")
MANIFEST = "manifest.json"

# --- image shard rows (raylab ingest imagenet); pipeline batches reuse VIDEO_ID for the image id
IMAGE_ID = "image_id"          # str, unique, e.g. "train/n01440764/n01440764_10026"
IMAGE_BYTES = "image_bytes"    # binary, the original JPEG's bytes, never re-encoded
