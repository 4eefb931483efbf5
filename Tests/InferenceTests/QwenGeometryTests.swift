import Foundation
import Inference
import XCTest

final class QwenGeometryTests: XCTestCase {
    func grids(_ raw: Any?) throws -> [QwenGrid] {
        try XCTUnwrap(raw as? [[Int]]).map { QwenGrid(t: $0[0], h: $0[1], w: $0[2]) }
    }

    /// Checks every geometry and rope case in a reference manifest; returns how many were checked.
    func checkCases(_ manifest: [String: Any]) throws -> (geometry: Int, rope: Int) {
        let geometry = try XCTUnwrap(manifest["geometry_cases"] as? [[String: Any]])
        for c in geometry {
            let g = try grids(c["grids"])
            let label = "\(g.map { "\($0.t)x\($0.h)x\($0.w)" })"
            let ids = try QwenVisionGeometry.rotaryPositionIDs(grids: g, mergeSize: 2)
            XCTAssertEqual(ids.rows, c["rows"] as? [Int], "rotary rows \(label)")
            XCTAssertEqual(ids.cols, c["cols"] as? [Int], "rotary cols \(label)")
            let windows = try QwenVisionGeometry.windowIndex(grids: g, mergeSize: 2, windowSize: 112, patchSize: 14)
            XCTAssertEqual(windows.windowIndex, c["window_index"] as? [Int], "window_index \(label)")
            XCTAssertEqual(windows.cuWindowSeqlens, c["cu_window_seqlens"] as? [Int], "cu_window_seqlens \(label)")
            XCTAssertEqual(
                QwenVisionGeometry.inversePermutation(windows.windowIndex), c["reverse_index"] as? [Int],
                "argsort(window_index) \(label)")
            XCTAssertEqual(QwenVisionGeometry.fullAttentionSeqlens(grids: g), c["cu_seqlens"] as? [Int], label)
        }
        let rope = try XCTUnwrap(manifest["rope_cases"] as? [[String: Any]])
        for c in rope {
            let g = try grids(c["grids"])
            let ids = try XCTUnwrap(c["input_ids"] as? [Int])
            let result = try QwenVisionGeometry.ropeIndex(
                inputIDs: ids, imageGrids: g, imageTokenID: 151655, visionStartTokenID: 151652, mergeSize: 2)
            XCTAssertEqual(result.positions, c["positions"] as? [[Int]], "positions \(g)")
            XCTAssertEqual(result.ropeDelta, c["rope_delta"] as? Int, "rope delta \(g)")
        }
        return (geometry.count, rope.count)
    }

    func testCommittedCasesMatchTransformers() throws {
        let counts = try checkCases(QwenReferencePython.manifest(QwenReferencePython.committedProcessorFixtures))
        XCTAssertGreaterThanOrEqual(counts.geometry, 7)
        XCTAssertGreaterThanOrEqual(counts.rope, 4)
    }

    func testLiveCasesMatchTransformers() throws {
        let dir = try QwenReferencePython.fullProcessorReference()
        let counts = try checkCases(QwenReferencePython.manifest(dir))
        XCTAssertGreaterThanOrEqual(counts.geometry, 8)
    }

    func test840WindowsAreNotAMultipleOfFour() throws {
        // 840x840 -> 60x60 patches -> 30x30 merged: 8x8 windows of 16/8/4 merged tokens (64/32/16 patches).
        let grid = QwenGrid(t: 1, h: 60, w: 60)
        let w = try QwenVisionGeometry.windowIndex(grids: [grid], mergeSize: 2, windowSize: 112, patchSize: 14)
        XCTAssertEqual(w.windowIndex.count, 900)
        XCTAssertEqual(Set(w.windowIndex).count, 900)
        XCTAssertEqual(w.cuWindowSeqlens.count, 65)
        XCTAssertEqual(w.cuWindowSeqlens.last, 3600)
        let sizes = zip(w.cuWindowSeqlens.dropFirst(), w.cuWindowSeqlens).map { $0 - $1 }
        XCTAssertEqual(Set(sizes), [64, 32, 16])
        let inverse = QwenVisionGeometry.inversePermutation(w.windowIndex)
        XCTAssertNotEqual(inverse, w.windowIndex, "the reverse permutation is argsort, not the index itself")
        for i in 0..<900 { XCTAssertEqual(w.windowIndex[inverse[i]], i) }
    }

    func testRopeIndexTextOnlyAndErrors() throws {
        let text = try QwenVisionGeometry.ropeIndex(
            inputIDs: [1, 2, 3], imageGrids: [], imageTokenID: 151655, visionStartTokenID: 151652, mergeSize: 2)
        XCTAssertEqual(text.positions, [[0, 1, 2], [0, 1, 2], [0, 1, 2]])
        XCTAssertEqual(text.ropeDelta, 0)
        XCTAssertThrowsError(
            try QwenVisionGeometry.ropeIndex(
                inputIDs: [151652, 151655, 151655], imageGrids: [], imageTokenID: 151655, visionStartTokenID: 151652,
                mergeSize: 2))
        XCTAssertThrowsError(
            try QwenVisionGeometry.ropeIndex(
                inputIDs: [151652, 151655, 151655], imageGrids: [QwenGrid(t: 1, h: 4, w: 4)], imageTokenID: 151655,
                visionStartTokenID: 151652, mergeSize: 2))
        XCTAssertThrowsError(
            try QwenVisionGeometry.rotaryPositionIDs(grids: [QwenGrid(t: 1, h: 3, w: 4)], mergeSize: 2))
    }
}
