"""Conan 2 recipe for nde (header-only).

`conan create packaging/conan -s compiler.cppstd=20` packages the headers of this source tree;
consumers use `find_package(nde)` / `nde::nde` through CMakeDeps. Checked by the packaging:conan
test where conan is on PATH (it is not on the Debian machines nde's CI uses, so the test is
skipped there).
"""
import os

from conan import ConanFile
from conan.tools.build import check_min_cppstd
from conan.tools.files import copy
from conan.tools.layout import basic_layout


class NdeConan(ConanFile):
    name = "nde"
    version = "0.1.0"
    description = "Header-only C++20 library for neural differential equations on Eigen"
    license = "MIT"
    url = "https://example.invalid/nde"
    topics = ("neural-ode", "differential-equations", "eigen", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    options = {"with_zlib": [True, False]}
    default_options = {"with_zlib": True}
    no_copy_source = True

    def export_sources(self):
        root = os.path.join(self.recipe_folder, "..", "..")
        copy(self, "include/*", root, self.export_sources_folder)
        copy(self, "LICENSE", root, self.export_sources_folder)

    def layout(self):
        basic_layout(self, src_folder=".")

    def requirements(self):
        self.requires("eigen/3.4.0")
        if self.options.with_zlib:
            self.requires("zlib/[>=1.2.11 <2]")

    def package_id(self):
        # Header-only: one package per option set, whatever the compiler settings.
        self.info.settings.clear()

    def validate(self):
        check_min_cppstd(self, 20)

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        copy(self, "*.hpp", os.path.join(self.source_folder, "include"),
             os.path.join(self.package_folder, "include"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "nde")
        self.cpp_info.set_property("cmake_target_name", "nde::nde")
        self.cpp_info.set_property("pkg_config_name", "nde")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        if self.settings.os in ("Linux", "FreeBSD"):
            self.cpp_info.system_libs = ["pthread"]
        if self.options.with_zlib:
            self.cpp_info.defines = ["NDE_HAVE_ZLIB=1"]
