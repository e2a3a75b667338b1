"""Joining MP4 clips end to end with PyAV: the storyboard export's encoder."""

from fractions import Fraction

import av
from PIL import Image

from generations.media import video

AUDIO_RATE = 48_000
AUDIO_FRAME = 1024


def _even(n: int) -> int:
    return max(2, n - n % 2)


def video_codec() -> str:
    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def concatenate(paths, out_path, *, progress=None) -> float:
    """Join MP4 clips end to end into `out_path`; returns the joined duration in seconds.

    Every clip is re-encoded to the first clip's size (others are letterboxed, never
    stretched) and frame rate, so each clip keeps its own duration whatever its rate.
    When any clip has sound the result has an AAC track, silent under the clips that
    have none, cut or padded to each clip's length so sound never drifts from picture.
    """
    paths = [str(p) for p in paths]
    if not paths:
        raise ValueError("Nothing to join: no clips were given.")
    probes = [video.probe(p) for p in paths]
    width, height = _even(probes[0].width), _even(probes[0].height)
    rate = Fraction(round(probes[0].fps or 24) or 24)
    total_frames = sum(max(1, round(p.duration * rate)) for p in probes)
    with_audio = any(p.has_audio for p in probes)

    with av.open(str(out_path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        pictures = out.add_stream(video_codec(), rate=rate)
        pictures.width, pictures.height, pictures.pix_fmt = width, height, "yuv420p"
        if pictures.codec_context.name == "libx264":
            pictures.options = {"preset": "veryfast", "crf": "20"}
        sound = None
        if with_audio:
            sound = out.add_stream("aac", rate=AUDIO_RATE)
            sound.layout = "stereo"
        joined = _Joined(out, pictures, sound, rate, width, height)
        for path, probe in zip(paths, probes, strict=True):
            frames = max(1, round(probe.duration * rate))
            joined.add(path, frames, probe.has_audio)
            if progress:
                progress(joined.frames / total_frames)
        joined.finish()
    return float(joined.frames / rate)


class _Joined:
    """The output being written: frame and sample counters and the audio FIFO."""

    def __init__(self, out, video, sound, rate, width, height):
        self.out, self.video, self.sound = out, video, sound
        self.rate, self.width, self.height = rate, width, height
        self.frames = 0  # video frames written
        self.samples = 0  # audio samples encoded
        self.fed = 0  # audio samples placed in the FIFO
        self.fifo = av.AudioFifo() if sound is not None else None

    def add(self, path, frames, has_audio):
        end_frame = self.frames + frames
        clip_audio = av.AudioFifo() if self.sound is not None and has_audio else None
        resampler = (
            av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
            if clip_audio is not None
            else None
        )
        with av.open(path) as source:
            streams = [source.streams.video[0]]
            if clip_audio is not None and source.streams.audio:
                streams.append(source.streams.audio[0])
            start = None
            held = None  # the last picture, shown until the next one is due
            for frame in source.decode(*streams):
                if isinstance(frame, av.AudioFrame):
                    for piece in resampler.resample(frame):
                        piece.pts = None
                        clip_audio.write(piece)
                    continue
                at = frame.time if frame.time is not None else 0.0
                start = at if start is None else start
                due = at - start
                while (
                    held is not None
                    and self.frames < end_frame
                    and ((self.frames - (end_frame - frames)) / self.rate < due)
                ):
                    self._picture(held)
                held = self._fit(frame)
            while held is not None and self.frames < end_frame:
                self._picture(held)
            if clip_audio is not None:
                for piece in resampler.resample(None):
                    piece.pts = None
                    clip_audio.write(piece)
        self._sound_until(end_frame, clip_audio)

    def _fit(self, frame):
        if frame.width == self.width and frame.height == self.height:
            return frame.reformat(format="yuv420p")
        picture = frame.to_image()
        scale = min(self.width / picture.width, self.height / picture.height)
        size = (max(2, round(picture.width * scale)), max(2, round(picture.height * scale)))
        canvas = Image.new("RGB", (self.width, self.height))
        canvas.paste(
            picture.resize(size, Image.BILINEAR),
            ((self.width - size[0]) // 2, (self.height - size[1]) // 2),
        )
        return av.VideoFrame.from_image(canvas).reformat(format="yuv420p")

    def _picture(self, frame):
        frame.pts = self.frames
        frame.time_base = 1 / self.rate
        for packet in self.video.encode(frame):
            self.out.mux(packet)
        self.frames += 1

    def _sound_until(self, end_frame, clip_audio):
        if self.sound is None:
            return
        # Samples that belong under the pictures written so far, counted from the start,
        # so rounding never accumulates across clips.
        budget = round(end_frame / self.rate * AUDIO_RATE) - self.fed
        if clip_audio is not None and clip_audio.samples and budget > 0:
            piece = clip_audio.read(min(clip_audio.samples, budget))
            if piece is not None:
                self.fifo.write(piece)
                self.fed += piece.samples
                budget -= piece.samples
        while budget > 0:
            count = min(budget, AUDIO_FRAME)
            self.fifo.write(_silence(count))
            self.fed += count
            budget -= count
        self._drain(whole_frames_only=True)

    def _drain(self, whole_frames_only):
        while self.fifo.samples >= AUDIO_FRAME or (not whole_frames_only and self.fifo.samples):
            piece = self.fifo.read(min(AUDIO_FRAME, self.fifo.samples))
            piece.pts = self.samples
            piece.time_base = Fraction(1, AUDIO_RATE)
            piece.sample_rate = AUDIO_RATE
            for packet in self.sound.encode(piece):
                self.out.mux(packet)
            self.samples += piece.samples

    def finish(self):
        for packet in self.video.encode():
            self.out.mux(packet)
        if self.sound is not None:
            self._drain(whole_frames_only=False)
            for packet in self.sound.encode():
                self.out.mux(packet)


def _silence(samples: int):
    frame = av.AudioFrame(format="fltp", layout="stereo", samples=samples)
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    frame.sample_rate = AUDIO_RATE
    frame.pts = None
    return frame
