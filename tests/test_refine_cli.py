"""Refinement for users: library call, and the CLI on TRC and Parquet files."""

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from depthrefine.capture.trc import Trc, read_trc, write_trc
from depthrefine.cli import main, parse_axes
from depthrefine.model.dataset import read_shard_clips
from depthrefine.model.refine import load_model, refine_sequence
from depthrefine.tables import column_xyz


@pytest.fixture(scope="module")
def test_clip(small_shards):
    manifest = json.loads(small_shards.read_text())
    path = next(e["path"] for e in manifest["shards"] if e["split"] == "test")
    clips, markers = read_shard_clips(path)
    return clips[0], markers, path


def make_trc(clip, markers, path, extra=True, fps=60.0, every=1):
    names = markers + (["Extra"] if extra else [])
    xyz = clip.observed[::every] * 1000.0  # millimetres
    if extra:
        xyz = np.concatenate([xyz, np.full((len(xyz), 1, 3), 7.0)], axis=1)
    n = len(xyz)
    trc = Trc(
        names,
        np.arange(1, n + 1),
        np.arange(n) / fps,
        xyz,
        "mm",
        fps,
        {
            "DataRate": f"{fps:g}",
            "CameraRate": f"{fps:g}",
            "NumFrames": str(n),
            "NumMarkers": str(len(names)),
            "Units": "mm",
            "OrigDataRate": f"{fps:g}",
            "OrigDataStartFrame": "1",
            "OrigNumFrames": str(n),
        },
        f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
    )
    write_trc(trc, path)
    return trc


def test_trc_round_trip_is_faithful(tmp_path, test_clip):
    clip, markers, _ = test_clip
    src = make_trc(clip, markers, tmp_path / "a.trc")
    back = read_trc(tmp_path / "a.trc")
    assert back.markers == src.markers and back.units == "mm" and back.data_rate == 60.0
    assert back.header == src.header and back.path_line == src.path_line
    assert np.array_equal(back.frames, src.frames) and np.allclose(back.times, src.times, atol=1e-6)
    assert np.allclose(back.xyz, src.xyz, atol=1e-5)
    write_trc(back, tmp_path / "b.trc")
    assert (tmp_path / "b.trc").read_text() == (tmp_path / "a.trc").read_text()


def test_trc_missing_values_read_as_nan(tmp_path, test_clip):
    clip, markers, _ = test_clip
    make_trc(clip, markers, tmp_path / "gap.trc", extra=False)
    lines = (tmp_path / "gap.trc").read_text().splitlines()
    fields = lines[6].split("\t")
    fields[2:5] = ["", "", ""]
    lines[6] = "\t".join(fields)
    (tmp_path / "gap.trc").write_text("\n".join(lines) + "\n")
    trc = read_trc(tmp_path / "gap.trc")
    assert np.isnan(trc.xyz[0, 0]).all() and np.isfinite(trc.xyz[1:]).all()


def test_cli_refines_a_trc_and_keeps_everything_else(tmp_path, tiny_model, test_clip):
    clip, markers, _ = test_clip
    make_trc(clip, markers, tmp_path / "in.trc")
    assert main([str(tmp_path / "in.trc"), str(tmp_path / "out.trc"), "--model", str(tiny_model)]) == 0
    a, b = read_trc(tmp_path / "in.trc"), read_trc(tmp_path / "out.trc")
    assert b.markers == a.markers and b.header == a.header and b.units == "mm"
    assert np.array_equal(b.frames, a.frames)
    assert np.allclose(b.xyz[..., :2], a.xyz[..., :2], atol=1e-4)  # x, y untouched
    assert np.array_equal(b.xyz[:, -1], a.xyz[:, -1])  # a marker the model does not know: passed through
    moved = np.abs(b.xyz[:, :-1, 2] - a.xyz[:, :-1, 2])
    assert moved.max() > 0.1  # depth refined (mm)
    loaded = load_model(tiny_model)
    expected = refine_sequence(loaded, clip.observed, fps=60.0) * 1000
    assert np.allclose(b.xyz[:, :-1], expected, atol=1e-3)


def test_cli_refines_parquet(tmp_path, tiny_model, test_clip):
    _, _, path = test_clip
    assert main([path, str(tmp_path / "out.parquet"), "--model", str(tiny_model)]) == 0
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column_names[-1] == "refined_xyz"
    obs, ref = column_xyz(table, "observed_xyz"), column_xyz(table, "refined_xyz")
    assert np.array_equal(obs[..., :2], ref[..., :2]) and not np.array_equal(obs[..., 2], ref[..., 2])


def test_cli_errors(tmp_path, tiny_model, test_clip, capsys):
    clip, markers, _ = test_clip
    without_last = clip.__class__(**{**clip.__dict__, "observed": clip.observed[:, :-1]})
    make_trc(without_last, markers[:-1], tmp_path / "missing.trc", extra=False)
    assert main([str(tmp_path / "missing.trc"), str(tmp_path / "o.trc"), "--model", str(tiny_model)]) == 2
    err = capsys.readouterr().err
    assert "markers ['L_mwrist_study'] of the model's marker set 'opencap'" in err and "are missing" in err
    short = clip.__class__(**{**clip.__dict__, "observed": clip.observed[:5]})
    make_trc(short, markers, tmp_path / "short.trc", extra=False)
    assert main([str(tmp_path / "short.trc"), str(tmp_path / "o.trc"), "--model", str(tiny_model)]) == 2
    assert "5 frames at 60 fps is shorter than the 11 frames the refiner needs" in capsys.readouterr().err
    assert main([str(tmp_path / "short.trc"), str(tmp_path / "o.trc"), "--model", str(tmp_path / "none.pt")]) == 2
    assert "model checkpoint" in capsys.readouterr().err
    (tmp_path / "notes.pt").write_text("not a checkpoint\n")
    assert main([str(tmp_path / "short.trc"), str(tmp_path / "o.trc"), "--model", str(tmp_path / "notes.pt")]) == 2
    err = capsys.readouterr().err
    assert "notes.pt: not a depthrefine model checkpoint" in err and "Traceback" not in err
    assert not (tmp_path / "o.trc").exists()


def test_cli_writes_joint_angles(tmp_path, tiny_model, test_clip):
    """OpenCap's set includes the BlazePose keypoints and their OpenSim names: angles of those."""
    from depthrefine.angles.stages import read_angles

    clip, markers, _ = test_clip
    make_trc(clip, markers, tmp_path / "walk.trc", extra=False)
    markerset = Path(__file__).resolve().parents[1] / "config/markersets/opencap.yaml"
    args = [str(tmp_path / "walk.trc"), str(tmp_path / "o.trc"), "--model", str(tiny_model), "--joint-angles"]
    assert main(args + ["--markerset", str(markerset), "--mass", "70"]) == 0
    angles = read_angles(tmp_path / "o.mot", 60.0, len(clip.observed))
    assert np.isfinite(angles["knee_angle_r"]).all()
    assert read_trc(tmp_path / "o_opensim.trc").markers[:2] == ["RShoulder", "LShoulder"]
    assert (tmp_path / "o.osim").is_file() and "[info]" in (tmp_path / "o_opensim.log").read_text()


def test_cli_joint_angles_errors(tmp_path, tiny_model, test_clip, capsys):
    clip, markers, _ = test_clip
    make_trc(clip, markers, tmp_path / "walk.trc", extra=False)
    args = [str(tmp_path / "walk.trc"), str(tmp_path / "o.trc"), "--model", str(tiny_model)]
    assert main(args + ["--height", "1.8"]) == 2
    assert "--height is for --joint-angles" in capsys.readouterr().err
    assert main(args + ["--joint-angles", "--height", "-1"]) == 2
    assert "--height must be positive" in capsys.readouterr().err
    assert main(args + ["--joint-angles", "--markerset", str(tmp_path / "none.yaml")]) == 2
    assert "none.yaml not found; pass --markerset" in capsys.readouterr().err


def test_cli_reads_what_the_workflow_reads(tmp_path, tiny_model, test_clip):
    """Marker aliases, a 5-frame gap and 30 fps input: the CLI takes the workflow's path
    (capture.recording.refine_with_gaps), so it accepts them, fills the gap and keeps the
    input's frame rate and frame count."""
    clip, markers, _ = test_clip
    trc = make_trc(clip, markers, tmp_path / "in.trc", extra=False)
    trc.markers[markers.index("midHip")] = "MidHip"  # an alias the marker set declares
    trc.xyz[40:45, markers.index("RWrist")] = np.nan  # 5 frames at 60 fps: under gap_fill_s 0.2 s
    write_trc(trc, tmp_path / "alias_gap.trc")
    assert main([str(tmp_path / "alias_gap.trc"), str(tmp_path / "out.trc"), "--model", str(tiny_model)]) == 0
    out = read_trc(tmp_path / "out.trc")
    assert out.markers == trc.markers and np.isfinite(out.xyz).all()
    loaded = load_model(tiny_model)
    assert loaded.aliases["MidHip"] == "midHip"

    slow = make_trc(clip, markers, tmp_path / "30fps.trc", extra=False, fps=30.0, every=2)
    assert main([str(tmp_path / "30fps.trc"), str(tmp_path / "30out.trc"), "--model", str(tiny_model)]) == 0
    back = read_trc(tmp_path / "30out.trc")
    assert back.data_rate == 30.0 and back.xyz.shape == slow.xyz.shape
    assert np.array_equal(back.frames, slow.frames)
    assert np.abs(back.xyz[..., 2] - slow.xyz[..., 2]).mean() > 1.0  # refined (mm), not passed through


def test_cli_names_a_gap_too_long_to_fill(tmp_path, tiny_model, test_clip, capsys):
    clip, markers, _ = test_clip
    trc = make_trc(clip, markers, tmp_path / "in.trc", extra=False)
    trc.xyz[40:60, markers.index("RWrist")] = np.nan  # 20 frames = 0.33 s
    write_trc(trc, tmp_path / "long_gap.trc")
    assert main([str(tmp_path / "long_gap.trc"), str(tmp_path / "o.trc"), "--model", str(tiny_model)]) == 2
    err = capsys.readouterr().err
    assert "marker 'RWrist' is missing for 20 frames (0.33 s) from t = 0.67 s" in err
    assert (
        main(
            [str(tmp_path / "long_gap.trc"), str(tmp_path / "o.trc"), "--model", str(tiny_model), "--gap-fill-s", "0.5"]
        )
        == 0
    )


def test_axes_mapping():
    order, signs = parse_axes("x,-z,y")
    assert order.tolist() == [0, 2, 1] and signs.tolist() == [1, -1, 1]
    with pytest.raises(ValueError):
        parse_axes("x,x,y")


def test_an_untrained_model_returns_the_front_end_output(test_clip):
    """The zero-initialised head predicts Δz = 0, so the refined depth is the fixed 6 Hz
    front end's; with the front end off, the input comes back unchanged."""
    import torch
    from conftest import REPO, tiny_model_config

    from depthrefine.evaluation.filters import butterworth_depth
    from depthrefine.markers.index import MarkerIndex
    from depthrefine.markers.markersets import load_markerset
    from depthrefine.model.network import DepthRefiner, ModelConfig
    from depthrefine.model.refine import LoadedModel

    clip, markers, _ = test_clip
    index = MarkerIndex.from_markerset(load_markerset(REPO / "config/markersets/opencap.yaml"), markers)
    for hz in (6.0, None):
        cfg = ModelConfig.from_dict({**tiny_model_config(dim=16, input_lowpass_hz=hz), "num_markers": len(markers)})
        loaded = LoadedModel(DepthRefiner(cfg).eval(), index, 11, torch.device("cpu"), "untrained", 60.0, hz)
        out = refine_sequence(loaded, clip.observed, fps=60.0)
        expected = butterworth_depth(clip.observed, 60.0, 6.0) if hz else clip.observed
        assert np.allclose(out, expected, atol=1e-5)


def test_input_at_another_rate_is_refined_at_the_models_rate(test_clip):
    """An untrained model is its 6 Hz front end: 30 fps input must come back low-passed at
    6 Hz in real time, not at 12 Hz as it would if its frames were taken for 60 fps ones."""
    import torch
    from conftest import REPO, tiny_model_config

    from depthrefine.evaluation.filters import butterworth_depth
    from depthrefine.markers.index import MarkerIndex
    from depthrefine.markers.markersets import load_markerset
    from depthrefine.model.network import DepthRefiner, ModelConfig
    from depthrefine.model.refine import LoadedModel

    clip, markers, _ = test_clip
    index = MarkerIndex.from_markerset(load_markerset(REPO / "config/markersets/opencap.yaml"), markers)
    cfg = ModelConfig.from_dict({**tiny_model_config(dim=16, input_lowpass_hz=6.0), "num_markers": len(markers)})
    loaded = LoadedModel(DepthRefiner(cfg).eval(), index, 11, torch.device("cpu"), "untrained", 60.0, 6.0)
    slow = clip.observed[::2].copy()
    out = refine_sequence(loaded, slow, fps=30.0)
    assert out.shape == slow.shape
    inner = slice(8, -8)  # away from the ends, where resampling and filter padding differ

    def off(hz):
        return np.abs(out[inner, :, 2] - butterworth_depth(slow, 30.0, hz)[inner, :, 2]).mean()

    assert off(6.0) < 0.3 * off(12.0), (off(6.0), off(12.0))


def test_a_model_trained_on_rays_refines_a_video_on_its_rays(tmp_path, tiny_model, test_clip, monkeypatch):
    """A checkpoint marked ``input: rays`` (trained on a virtual camera's captures) gets a
    recording's markers put on their rays first, and gives them back on their rays."""
    import torch

    from depthrefine.capture.rays import on_rays
    from depthrefine.capture.recording import refine_markers
    from depthrefine.tables import read_learned, read_observations, write_observations

    clip, markers, _ = test_clip
    true = clip.true.astype(np.float64)
    rays = true[..., :2] / true[..., 2:]
    observed = clip.observed.astype(np.float64)  # x, y off the rays, as raw BlazePose is
    ckpt = torch.load(tiny_model, weights_only=False)
    ckpt["config"]["input"] = "rays"
    on_rays_model = tmp_path / "rays.pt"
    torch.save(ckpt, on_rays_model)
    recording = tmp_path / "rec.parquet"
    write_observations(
        recording,
        observed,
        clip_id="rec",
        source="rec",
        fps=60.0,
        markers=markers,
        segments=[],
        markerset_name="opencap",
        filled=np.zeros(len(observed), bool),
        image=np.concatenate([rays, np.ones(rays.shape[:2] + (1,))], axis=-1),
    )
    refine_markers(str(recording), str(on_rays_model), str(tmp_path / "out.parquet"), str(tmp_path / "out.trc"))
    _, final, table, meta = read_observations(tmp_path / "out.parquet")
    learned = read_learned(table)
    assert np.allclose(learned[..., :2] / learned[..., 2:], rays, atol=1e-5)  # the refiner's: on the rays
    off_ray_m = np.linalg.norm(final[..., :2] - rays * final[..., 2:], axis=-1)
    assert np.median(off_ray_m) < 0.02  # the bone fit's: within the 2D detector's error of them
    loaded = load_model(tiny_model)
    expected = refine_sequence(loaded, on_rays(observed, rays).astype(np.float32), fps=60.0)
    assert np.allclose(learned[..., 2], expected[..., 2], atol=1e-4)  # the model saw the capture on rays
    assert json.loads(meta["capture"])["bone_fit"]["height_m"] is None
    assert load_model(on_rays_model).on_rays and not loaded.on_rays

    # The camera's up given: the decision is recorded, and where no frame is turned the
    # output is the one without it. This level camera's clip is a near tie (its axis 5° off
    # the plane across the line of sight: the two leans 10.5° apart): nothing is turned.
    # With no margin and the mirrored mean axis as the up, the frames are turned and the
    # output changes: the turned prior is what the bone fit starts from.
    from depthrefine.capture import upright

    def refine_with(up):
        out = tmp_path / "up.parquet"
        refine_markers(str(recording), str(on_rays_model), str(out), str(tmp_path / "up.trc"), camera_up=up)
        _, final_up, _, meta_up = read_observations(out)
        info = json.loads(meta_up["capture"])["upright"]
        assert info["camera_up"] == pytest.approx(up, abs=1e-4) and info["frames"] == len(observed)
        return final_up, info

    level_final, info = refine_with([0.0, -1.0, 0.0])
    assert info["turned_frames"] == 0 and np.array_equal(level_final, final)
    axis = upright.body_axis(learned, markers)
    hips = upright._indices(markers, upright.HIP_MARKERS)
    sight = upright._unit(np.append(rays[:, hips].mean(axis=(0, 1)), 1.0))
    mirrored_up = upright._unit(axis - 2 * (axis @ sight) * sight)
    monkeypatch.setattr(upright, "MARGIN_DEG", 0.0)
    turned, info = refine_with(mirrored_up.tolist())
    assert info["turned_frames"] > len(observed) // 2 and info["lean_after_deg"] < info["lean_deg"]
    assert not np.allclose(turned, final)

    # With the camera's height above the floor as well, the prior is scaled about the camera
    # centre so that its stance feet stand on that floor, and the bone fit's lengths follow; a
    # camera too low to decide keeps the size.
    from depthrefine.capture.floor import STANCE_MARKER_HEIGHT_M, scale_to_floor

    monkeypatch.setattr(upright, "MARGIN_DEG", 10.0)
    level = [0.0, -1.0, 0.0]
    feet = loaded.index.feet
    drop = -scale_to_floor(on_rays(learned, rays), feet, np.array(level), camera_height_m=1.0).stance_level_m
    out = tmp_path / "floor.parquet"

    def refine_on_floor(camera_height_m):
        refine_markers(
            str(recording),
            str(on_rays_model),
            str(out),
            str(tmp_path / "floor.trc"),
            camera_up=level,
            camera_height_m=camera_height_m,
        )
        _, fitted, _, meta_floor = read_observations(out)
        return fitted, json.loads(meta_floor["capture"])

    fitted, info = refine_on_floor(STANCE_MARKER_HEIGHT_M + 1.2 * drop)
    assert info["floor_scale"]["scale"] == pytest.approx(1.2, abs=1e-3)
    lengths = np.array(list(info["bone_fit"]["lengths_m"].values()))
    unscaled = np.array(list(json.loads(meta["capture"])["bone_fit"]["lengths_m"].values()))
    assert np.allclose(lengths / unscaled, 1.2, rtol=0.03)
    assert np.allclose(fitted[..., 2].mean() / final[..., 2].mean(), 1.2, rtol=0.03)
    same, info = refine_on_floor(0.1)
    assert info["floor_scale"]["scale"] is None and "graze" in info["floor_scale"]["why_not"]
    assert np.array_equal(same, level_final)


def test_a_clip_shorter_than_the_window_is_refined(tiny_model, test_clip):
    """A model with a 41-frame window refines a 20-frame clip (reflected back and forth to
    fill its windows): depth changes, x and y stay, every frame is finite; shorter than the
    minimum is refused."""
    import dataclasses

    import torch

    from depthrefine.model.network import DepthRefiner, ModelConfig

    loaded = load_model(tiny_model)
    cfg = ModelConfig.from_dict({**loaded.model.cfg.to_dict(), "window": 41})
    torch.manual_seed(0)
    wide = DepthRefiner(cfg).eval()
    torch.nn.init.normal_(wide.head.weight, std=0.1)
    wide_loaded = dataclasses.replace(loaded, model=wide, window=41)
    clip, _, _ = test_clip
    short = clip.observed[:20]
    out = refine_sequence(wide_loaded, short, fps=loaded.fps)
    assert out.shape == short.shape and np.isfinite(out).all()
    np.testing.assert_allclose(out[..., :2], short[..., :2])
    assert np.abs(out[..., 2] - short[..., 2]).mean() > 1e-3
    with pytest.raises(ValueError, match="10 frames at 60 fps is shorter than the 11 frames"):
        refine_sequence(wide_loaded, clip.observed[:10], fps=loaded.fps)
