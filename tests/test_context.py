"""dockerfile2def.context: COPY/ADD sources against a build context (spec A.8, BuildKit/fsutil)."""

import bz2
import gzip
import io
import lzma
import os
import tarfile

import pytest

from dockerfile2def.context import (ContextError, ResolvedSource, SourceNotFoundError, clean_source, is_archive,
                                    resolve_in_context, resolve_sources)
from dockerfile2def.patterns import IgnoreMatcher, PatternError, read_ignore_file


def make(root, layout):
    """Create files ("path": "text"), folders ("path/": None) and symlinks ("path": ("->", target))."""
    for path, content in layout.items():
        full = root / path.rstrip("/")
        full.parent.mkdir(parents=True, exist_ok=True)
        if path.endswith("/"):
            full.mkdir(exist_ok=True)
        elif isinstance(content, tuple):
            os.symlink(content[1], full)
        else:
            full.write_text(content)
    return root


@pytest.fixture
def ctx(tmp_path):
    root = tmp_path / "ctx"
    root.mkdir()
    make(root, {
        "a.txt": "a", "b.txt": "b", "c.cfg": "c", "arr[0].txt": "bracket",
        "sub/x.txt": "x", "sub/y.md": "y", "sub/deep/z.txt": "z",
        "empty/": None,
        ".hidden.txt": "h",
    })
    return root


def paths(found):
    return [f.path for f in found]


def ignore(text):
    return IgnoreMatcher(read_ignore_file(text))


# -- plain sources, clamping ------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("a.txt", "a.txt"), ("/a.txt", "a.txt"), ("../a.txt", "a.txt"), ("../../../a.txt", "a.txt"),
    ("sub/../a.txt", "a.txt"), ("sub/../../a.txt", "a.txt"), ("./a.txt", "a.txt"), ("sub/", "sub"),
    ("/sub/deep/", "sub/deep"), (".", "."), ("/", "."), ("..", "."), ("", "."), ("a//b/./c/", "a/b/c"),
])
def test_clean_source(source, expected):
    assert clean_source(source) == expected


@pytest.mark.parametrize("source", ["a.txt", "/a.txt", "../a.txt", "sub/../../a.txt", "./a.txt"])
def test_sources_are_clamped_to_the_context(ctx, source):
    found = resolve_sources(str(ctx), [source])
    assert found == [ResolvedSource("a.txt", False, None, "a.txt", "a.txt")]


def test_a_parent_folder_file_is_never_reached(tmp_path, ctx):
    (tmp_path / "secret.txt").write_text("outside")
    with pytest.raises(SourceNotFoundError):
        resolve_sources(str(ctx), ["../secret.txt"])  # clamped to <ctx>/secret.txt


def test_missing_source_is_an_error(ctx):
    with pytest.raises(SourceNotFoundError, match="nope.txt: not found in the build context"):
        resolve_sources(str(ctx), ["nope.txt"])
    with pytest.raises(SourceNotFoundError, match="not a folder"):
        resolve_sources(str(ctx), ["a.txt/inner"])
    assert issubclass(SourceNotFoundError, ValueError)


def test_folder_source(ctx):
    found = resolve_sources(str(ctx), ["sub/"])
    assert found == [ResolvedSource("sub", True, None, "sub", "sub")]
    (root,) = resolve_sources(str(ctx), ["."])
    assert (root.path, root.is_dir, root.entries, root.name) == (".", True, None, ".")
    (empty,) = resolve_sources(str(ctx), ["empty"])
    assert empty.is_dir and empty.entries is None


def test_several_sources_keep_their_order(ctx):
    assert paths(resolve_sources(str(ctx), ["sub/x.txt", "a.txt", "sub"])) == ["sub/x.txt", "a.txt", "sub"]


def test_not_a_context_folder(tmp_path):
    with pytest.raises(ContextError):
        resolve_sources(str(tmp_path / "missing"), ["a"])


# -- wildcards --------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("*.txt", [".hidden.txt", "a.txt", "arr[0].txt", "b.txt"]),  # whole-path match: no sub/x.txt
    ("?.txt", ["a.txt", "b.txt"]),
    ("[ab].txt", ["a.txt", "b.txt"]),
    ("[^a].txt", ["b.txt"]),
    ("arr[[]0].txt", ["arr[0].txt"]),
    ("*/x.txt", ["sub/x.txt"]),
    ("sub/*.txt", ["sub/x.txt"]),
    ("sub/*", ["sub/deep", "sub/x.txt", "sub/y.md"]),
    ("*/*/*.txt", ["sub/deep/z.txt"]),
    ("s*", ["sub"]),  # a matching folder is taken whole, not entered
    ("/../*.cfg", ["c.cfg"]),
    ("*.none", []),  # no match is not an error
    ("nosuchdir/*.txt", []),
    ("a.txt/*", []),
    ("**/*.txt", ["sub/x.txt"]),  # without --parents, ** is just *: this is */*.txt
    ("[", []),  # a malformed pattern matches nothing (BuildKit ignores the error)
])
def test_wildcards(ctx, source, expected):
    assert paths(resolve_sources(str(ctx), [source])) == expected


def test_wildcard_results(ctx):
    found = resolve_sources(str(ctx), ["s*"])
    assert found == [ResolvedSource("sub", True, None, "sub", "sub")]
    (x,) = resolve_sources(str(ctx), ["*/x.txt"])
    assert (x.name, x.source, x.is_dir, x.entries) == ("x.txt", "sub/x.txt", False, None)


def test_escaped_wildcard_is_literal(tmp_path):
    root = make(tmp_path, {"a*b": "star"})
    # "a\*b" has no wildcard for BuildKit: it is looked up as written (backslash included)
    with pytest.raises(SourceNotFoundError):
        resolve_sources(str(root), ["a\\*b"])
    assert paths(resolve_sources(str(root), ["a[*]b"])) == ["a*b"]


# -- .dockerignore ---------------------------------------------------------------------------------

@pytest.fixture
def ignored_ctx(tmp_path):
    # the scenario of fixtures/build/dockerignore
    root = tmp_path / "ctx"
    make(root, {
        "Dockerfile": "FROM x", "a.txt": "", "b.txt": "", "a.cfg": "", "b.cfg": "", "c.cfg": "",
        "x.log": "", "keep.log": "", "secret/key": "", "sub/c.txt": "", "sub/d.tmp": "",
    })
    return root


IGNORE = "*.log\n!keep.log\nsecret/\n**/*.tmp\n"


def test_dockerignore_on_the_whole_context(ignored_ctx):
    (found,) = resolve_sources(str(ignored_ctx), ["."], ignore(IGNORE))
    assert found.is_dir
    assert found.entries == ["Dockerfile", "a.cfg", "a.txt", "b.cfg", "b.txt", "c.cfg", "keep.log", "sub",
                             "sub/c.txt"]


def test_dockerignore_on_wildcards(ignored_ctx):
    assert paths(resolve_sources(str(ignored_ctx), ["*.log"], ignore(IGNORE))) == ["keep.log"]
    assert paths(resolve_sources(str(ignored_ctx), ["[ab].cfg"], ignore(IGNORE))) == ["a.cfg", "b.cfg"]
    assert paths(resolve_sources(str(ignored_ctx), ["sub/*"], ignore(IGNORE))) == ["sub/c.txt"]
    assert paths(resolve_sources(str(ignored_ctx), ["s*"], ignore(IGNORE))) == ["sub"]


def test_ignored_explicit_source_is_not_found(ignored_ctx):
    with pytest.raises(SourceNotFoundError, match="excluded by .dockerignore"):
        resolve_sources(str(ignored_ctx), ["x.log"], ignore(IGNORE))
    with pytest.raises(SourceNotFoundError, match="excluded by .dockerignore"):
        resolve_sources(str(ignored_ctx), ["secret"], ignore(IGNORE))
    with pytest.raises(SourceNotFoundError):
        resolve_sources(str(ignored_ctx), ["secret/key"], ignore(IGNORE))
    assert paths(resolve_sources(str(ignored_ctx), ["keep.log"], ignore(IGNORE))) == ["keep.log"]


def test_folder_with_ignored_contents_lists_what_stays(ignored_ctx):
    (sub,) = resolve_sources(str(ignored_ctx), ["sub"], ignore(IGNORE))
    assert sub.entries == ["c.txt"]
    (sub,) = resolve_sources(str(ignored_ctx), ["sub"], ignore("sub/c.txt\n"))
    assert sub.entries == ["d.tmp"]
    (sub,) = resolve_sources(str(ignored_ctx), ["sub"], ignore("*.log\n"))
    assert sub.entries is None  # nothing under it left out


def test_exceptions_bring_back_files_in_an_ignored_folder(tmp_path):
    root = make(tmp_path, {"docs/README.md": "", "docs/other.md": "", "docs/img/a.png": "", "docs/img/b.png": "",
                           "src/main.c": ""})
    rules = ignore("docs\n!docs/README.md\n!docs/img/b.png\n")
    (found,) = resolve_sources(str(root), ["."], rules)
    assert found.entries == ["docs", "docs/README.md", "docs/img", "docs/img/b.png", "src", "src/main.c"]
    # an ignored folder is there, holding only what comes back
    (docs,) = resolve_sources(str(root), ["docs"], rules)
    assert docs.entries == ["README.md", "img", "img/b.png"]
    assert paths(resolve_sources(str(root), ["docs/README.md"], rules)) == ["docs/README.md"]
    assert paths(resolve_sources(str(root), ["d*"], rules)) == ["docs"]
    with pytest.raises(SourceNotFoundError):
        resolve_sources(str(root), ["docs/other.md"], rules)


def test_ignored_folder_without_exceptions_is_gone(tmp_path):
    root = make(tmp_path, {"build/out.o": "", "build/keep/x": "", "main.c": ""})
    rules = ignore("build\n")
    with pytest.raises(SourceNotFoundError):
        resolve_sources(str(root), ["build"], rules)
    (found,) = resolve_sources(str(root), ["."], rules)
    assert found.entries == ["main.c"]
    # an exception elsewhere does not revive an ignored folder with nothing excepted in it
    rules = ignore("build\n!main.c\n")
    with pytest.raises(SourceNotFoundError):
        resolve_sources(str(root), ["build"], rules)
    assert paths(resolve_sources(str(root), ["b*"], rules)) == []


def test_last_matching_rule_wins(tmp_path):
    root = make(tmp_path, {"keep.log": "", "x.log": ""})
    assert paths(resolve_sources(str(root), ["*.log"], ignore("!keep.log\n*.log\n"))) == []
    assert paths(resolve_sources(str(root), ["*.log"], ignore("*.log\n!keep.log\n"))) == ["keep.log"]


def test_dockerignore_can_hide_the_dockerfile(ignored_ctx):
    with pytest.raises(SourceNotFoundError):
        resolve_sources(str(ignored_ctx), ["Dockerfile"], ignore("Dockerfile\n"))


# -- --exclude ------------------------------------------------------------------------------------------

@pytest.fixture
def exclude_ctx(tmp_path):
    root = tmp_path / "ctx"
    make(root, {"dir1/a.1": "", "dir1/a.2": "", "dir1/dir2/a.1": "", "dir1/dir2/a.2": "",
                "homework.txt": "", "homer.md": "", "other.txt": ""})
    return root


def test_exclude_is_relative_to_the_folder_source(exclude_ctx):
    # moby/buildkit#5509: *.1 leaves out the top-level a.1 only; **/*.1 every level
    (found,) = resolve_sources(str(exclude_ctx), ["dir1"], excludes=["*.1"])
    assert found.entries == ["a.2", "dir2", "dir2/a.1", "dir2/a.2"]
    (found,) = resolve_sources(str(exclude_ctx), ["dir1"], excludes=["**/*.1"])
    assert found.entries == ["a.2", "dir2", "dir2/a.2"]
    (found,) = resolve_sources(str(exclude_ctx), ["dir1"], excludes=["dir2"])
    assert found.entries == ["a.1", "a.2"]
    (found,) = resolve_sources(str(exclude_ctx), ["dir1"], excludes=["dir2", "!dir2/a.2"])
    assert found.entries == ["a.1", "a.2", "dir2", "dir2/a.2"]
    (found,) = resolve_sources(str(exclude_ctx), ["dir1"], excludes=["*.none"])
    assert found.entries is None


def test_exclude_applies_to_wildcard_matches(exclude_ctx):
    # the documented COPY --exclude=*.txt hom* /mydir/
    assert paths(resolve_sources(str(exclude_ctx), ["hom*"], excludes=["*.txt"])) == ["homer.md"]
    assert paths(resolve_sources(str(exclude_ctx), ["*"], excludes=["dir1", "*.md"])) == ["homework.txt",
                                                                                          "other.txt"]


def test_exclude_never_drops_a_named_file(exclude_ctx):
    assert paths(resolve_sources(str(exclude_ctx), ["other.txt"], excludes=["*.txt"])) == ["other.txt"]


def test_malformed_exclude_is_an_error(exclude_ctx):
    with pytest.raises(PatternError):
        resolve_sources(str(exclude_ctx), ["dir1"], excludes=["[x"])


# -- symlinks -----------------------------------------------------------------------------------------

@pytest.fixture
def link_ctx(tmp_path):
    outside = tmp_path / "outside"
    make(outside, {"secret.txt": "do not read", "dir/s.txt": ""})
    root = tmp_path / "ctx"
    make(root, {
        "tree/file.txt": "f", "tree/sub/deep.txt": "d",
        "tree/rel-link": ("->", "file.txt"),
        "tree/abs-link": ("->", "/etc/hostname"),
        "tree/dir-link": ("->", "sub"),
        "tree/out-link": ("->", str(outside / "secret.txt")),
        "link-to-file": ("->", "tree/file.txt"),
        "link-to-dir": ("->", "tree/sub"),
        "up-link": ("->", "../outside/secret.txt"),
        "up-dir": ("->", "../outside/dir"),
        "abs-in-context": ("->", "/tree/file.txt"),
        "deep/clamp": ("->", "../../../../tree/file.txt"),
        "loop-a": ("->", "loop-b"), "loop-b": ("->", "loop-a"),
        "dangling": ("->", "missing.txt"),
        "chain": ("->", "link-to-file"),
    })
    return root


def test_symlink_source_is_followed_inside_the_context(link_ctx):
    (found,) = resolve_sources(str(link_ctx), ["link-to-file"])
    assert found == ResolvedSource("tree/file.txt", False, None, "link-to-file", "link-to-file")
    (found,) = resolve_sources(str(link_ctx), ["chain"])
    assert (found.path, found.name) == ("tree/file.txt", "chain")
    (found,) = resolve_sources(str(link_ctx), ["link-to-dir/"])
    assert (found.path, found.is_dir, found.entries, found.name) == ("tree/sub", True, None, "link-to-dir")
    (found,) = resolve_sources(str(link_ctx), ["link-to-dir/deep.txt"])
    assert found.path == "tree/sub/deep.txt"


def test_absolute_link_targets_start_at_the_context_root(link_ctx):
    (found,) = resolve_sources(str(link_ctx), ["abs-in-context"])
    assert found.path == "tree/file.txt"
    (found,) = resolve_sources(str(link_ctx), ["deep/clamp"])  # .. stops at the context root
    assert found.path == "tree/file.txt"


@pytest.mark.parametrize("source", ["up-link", "up-dir", "up-dir/s.txt", "tree/out-link", "tree/abs-link"])
def test_links_out_of_the_context_do_not_leak(link_ctx, source):
    with pytest.raises(SourceNotFoundError):
        resolve_sources(str(link_ctx), [source])


def test_link_out_resolves_to_a_same_named_file_in_the_context(link_ctx):
    make(link_ctx, {"outside/secret.txt": "in the context"})
    (found,) = resolve_sources(str(link_ctx), ["up-link"])
    assert found.path == "outside/secret.txt"
    assert (link_ctx / found.path).read_text() == "in the context"


def test_links_inside_a_folder_are_listed_not_followed(link_ctx):
    (tree,) = resolve_sources(str(link_ctx), ["tree"], ignore("tree/file.txt\n"))
    assert tree.entries == ["abs-link", "dir-link", "out-link", "rel-link", "sub", "sub/deep.txt"]
    (tree,) = resolve_sources(str(link_ctx), ["tree"])
    assert tree.entries is None


def test_link_loops_and_dangling_links(link_ctx):
    with pytest.raises(ContextError, match="too many levels of symbolic links"):
        resolve_sources(str(link_ctx), ["loop-a"])
    with pytest.raises(SourceNotFoundError):
        resolve_sources(str(link_ctx), ["dangling"])
    with pytest.raises(SourceNotFoundError):
        resolve_sources(str(link_ctx), ["dang*"])  # a matched link must lead somewhere


def test_wildcard_matching_links(link_ctx):
    found = resolve_sources(str(link_ctx), ["link-to-*"])
    assert [(f.path, f.name, f.source, f.is_dir) for f in found] == [
        ("tree/sub", "link-to-dir", "link-to-dir", True),
        ("tree/file.txt", "link-to-file", "link-to-file", False),
    ]
    found = resolve_sources(str(link_ctx), ["tree/[dr]*-link"])
    assert [(f.path, f.name) for f in found] == [("tree/sub", "dir-link"), ("tree/file.txt", "rel-link")]
    with pytest.raises(SourceNotFoundError):  # abs-link and out-link lead nowhere inside the context
        resolve_sources(str(link_ctx), ["tree/*-link"])


def test_ignored_links(link_ctx):
    with pytest.raises(SourceNotFoundError, match="link-to-file is excluded by .dockerignore"):
        resolve_sources(str(link_ctx), ["link-to-file"], ignore("link-to-file\n"))
    with pytest.raises(SourceNotFoundError, match="excluded by .dockerignore"):
        resolve_sources(str(link_ctx), ["link-to-file"], ignore("tree/file.txt\n"))


def test_resolve_in_context(link_ctx):
    assert resolve_in_context(str(link_ctx), "/link-to-dir/deep.txt") == "tree/sub/deep.txt"
    # the source is cleaned before links are followed: link-to-dir/.. is the root, not tree/
    with pytest.raises(SourceNotFoundError):
        resolve_in_context(str(link_ctx), "link-to-dir/../sub/deep.txt")
    assert resolve_in_context(str(link_ctx), "link-to-dir/../tree/file.txt") == "tree/file.txt"
    with pytest.raises(SourceNotFoundError):
        resolve_in_context(str(link_ctx), "tree/file.txt", ignore("tree\n"))


def test_context_given_through_a_link(tmp_path, ctx):
    link = tmp_path / "ctx-link"
    os.symlink(ctx, link)
    assert paths(resolve_sources(str(link), ["*.cfg"])) == ["c.cfg"]


# -- --parents -----------------------------------------------------------------------------------------

@pytest.fixture
def parents_ctx(tmp_path):
    root = tmp_path / "ctx"
    make(root, {"x/a/b/one.go": "", "x/a/two.go": "", "x/a/b/readme.md": "", "x/c/three.go": "",
                "y/one.go": "", "top.go": ""})
    return root


@pytest.mark.parametrize("source, expected", [
    ("x/a/b/one.go", ["x/a/b/one.go"]),
    ("x/./a/b/one.go", ["x/a/b/one.go"]),
    ("x/a/*.go", ["x/a/two.go"]),
    ("x/**/*.go", ["x/a/b/one.go", "x/a/two.go", "x/c/three.go"]),
    ("x/./**/*.go", ["x/a/b/one.go", "x/a/two.go", "x/c/three.go"]),
    ("**/one.go", ["x/a/b/one.go", "y/one.go"]),
    ("*/a", ["x/a"]),
    ("x/a", ["x/a"]),
    ("*.go", ["top.go"]),
    ("none/*.go", []),
])
def test_parents(parents_ctx, source, expected):
    assert paths(resolve_sources(str(parents_ctx), [source], parents=True)) == expected


def test_parents_results(parents_ctx):
    (found,) = resolve_sources(str(parents_ctx), ["x/./a"], parents=True)
    assert (found.path, found.is_dir, found.entries, found.name) == ("x/a", True, None, "a")
    with pytest.raises(SourceNotFoundError):
        resolve_sources(str(parents_ctx), ["x/nothing.go"], parents=True)
    with pytest.raises(SourceNotFoundError):
        resolve_sources(str(parents_ctx), ["nowhere/./x.go"], parents=True)


def test_parents_with_ignore_and_exclude(parents_ctx):
    found = resolve_sources(str(parents_ctx), ["x/**/*.go"], ignore("x/c\n"), parents=True)
    assert paths(found) == ["x/a/b/one.go", "x/a/two.go"]
    # --exclude patterns are relative to the base folder (here the context root)
    (found,) = resolve_sources(str(parents_ctx), ["x/a"], excludes=["x/a/b"], parents=True)
    assert found.entries == ["two.go"]
    (found,) = resolve_sources(str(parents_ctx), ["x/./a"], excludes=["a/*.go"], parents=True)
    assert found.entries == ["b", "b/one.go", "b/readme.md"]
    assert paths(resolve_sources(str(parents_ctx), ["**/*.go"], excludes=["y"], parents=True)) == [
        "top.go", "x/a/b/one.go", "x/a/two.go", "x/c/three.go"]


# -- ADD archives ---------------------------------------------------------------------------------

def _tar_bytes(fmt=tarfile.USTAR_FORMAT, name="hello.txt", data=b"hello\n"):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as archive:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize("name, content, expected", [
    ("plain.tar", _tar_bytes(), "tar"),
    ("gnu.tar", _tar_bytes(tarfile.GNU_FORMAT, "n" * 150), "tar"),  # GNU long-name header first
    ("pax.tar", _tar_bytes(tarfile.PAX_FORMAT, "p" * 150), "tar"),  # PAX header first
    ("a.tgz", gzip.compress(_tar_bytes()), "gzip"),
    ("a.tar.bz2", bz2.compress(_tar_bytes()), "bzip2"),
    ("a.tar.xz", lzma.compress(_tar_bytes()), "xz"),
    ("big.tar.gz", gzip.compress(_tar_bytes(data=os.urandom(3_000_000))), "gzip"),
    ("notes.txt.gz", gzip.compress(b"just text, not a tar\n" * 100), None),  # compressed non-tar
    ("text.txt", b"hello world\n", None),
    ("empty", b"", None),
    ("short.tar", _tar_bytes()[:300], None),
    ("zeros.tar", bytes(1024), None),  # an empty archive: no first entry
    ("random.bin", bytes(range(256)) * 4, None),
    ("fake.tar.gz", b"\x1f\x8b\x08" + b"garbage" * 100, None),
])
def test_is_archive(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    assert is_archive(str(path)) == expected


def test_is_archive_checks_the_tar_checksum(tmp_path):
    data = bytearray(_tar_bytes())
    data[0] ^= 0x01  # the name changes, the stored checksum does not
    path = tmp_path / "bad.tar"
    path.write_bytes(bytes(data))
    assert is_archive(str(path)) is None


def test_is_archive_accepts_a_v7_header(tmp_path):
    block = bytearray(512)
    block[0:5] = b"hello"
    block[100:108] = b"0000644\x00"
    block[108:116] = b"0000000\x00"
    block[116:124] = b"0000000\x00"
    block[124:136] = b"00000000006\x00"
    block[136:148] = b"00000000000\x00"
    block[156:157] = b"0"
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)
    path = tmp_path / "v7.tar"
    path.write_bytes(bytes(block) + b"hello\n".ljust(512, b"\x00") + bytes(1024))
    assert is_archive(str(path)) == "tar"
    block[100:108] = b"0000z44\x00"  # a numeric field that does not parse
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)
    path.write_bytes(bytes(block) + bytes(1024))
    assert is_archive(str(path)) is None


def test_is_archive_needs_a_regular_file(tmp_path):
    archive = tmp_path / "a.tar"
    archive.write_bytes(_tar_bytes())
    link = tmp_path / "link.tar"
    os.symlink(archive, link)
    assert is_archive(str(link)) is None
    assert is_archive(str(tmp_path)) is None
    assert is_archive(str(tmp_path / "missing.tar")) is None


def test_is_archive_zstd(tmp_path):
    path = tmp_path / "a.tar.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(100))
    try:
        import zstandard  # noqa: F401
    except ImportError:
        assert is_archive(str(path)) == "zstd"  # cannot look inside: trusted by its magic
    else:
        assert is_archive(str(path)) is None  # not a valid frame
