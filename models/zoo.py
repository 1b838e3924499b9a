"""Reference PyTorch models that the compiler is tested against.

Everything is defined here (no torchvision import, no weight downloads) so
the zoo is self-contained and the architectures are pinned in-repo.  The
models span the structures the compiler must handle: residual adds with
downsample branches (ResNets), conv/pool stacks whose flatten is not 1x1
spatial (``digits_cnn``), plain dense layers (``digits_mlp``), and MobileNetV2's inverted residuals with
depthwise convolutions and ReLU6 (``digits_mobilenet``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn

__all__ = [
    "BasicBlock",
    "ResNet",
    "ModelSpec",
    "MODELS",
    "resnet18",
    "digits_resnet",
    "digits_cnn",
    "digits_mlp",
    "digits_mobilenet",
]


def _conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock: two 3x3 convs plus an identity (or
    1x1-conv + BN projection) shortcut, ReLU after the add."""

    expansion = 1

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_ch, out_ch, stride)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(out_ch, out_ch)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_ch),
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ImageNet ResNet with BasicBlocks, laid out exactly like torchvision's
    (same module names, so state dicts are interchangeable)."""

    def __init__(self, layers: list[int], num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        widths = [64, 128, 256, 512]
        in_ch = 64
        for i, (width, blocks) in enumerate(zip(widths, layers)):
            stride = 1 if i == 0 else 2
            stage = [BasicBlock(in_ch, width, stride)]
            stage += [BasicBlock(width, width) for _ in range(blocks - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
            in_ch = width
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)
        _torchvision_init(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def _torchvision_init(model: nn.Module) -> None:
    """Match torchvision's ResNet init (kaiming fan_out for convs, BN=identity)
    so a random-weight model has the same activation statistics."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


def resnet18() -> ResNet:
    """torchvision resnet18 architecture (11,689,512 params), random init."""
    return ResNet([2, 2, 2, 2], num_classes=1000)


class DigitsResNet(nn.Module):
    """Small ResNet for 1x16x16 digits (16-32-64 channels, ~77K parameters): identity and projection
    shortcuts, wide enough that ternary weights and PE-wise pruning have room to work (the 8-16 channel first
    version lost most of its accuracy on ternarization alone), still cheap in fixed-point C simulation."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = _conv3x3(1, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = BasicBlock(16, 16)
        self.layer2 = BasicBlock(16, 32, stride=2)
        self.layer3 = BasicBlock(32, 64, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        _torchvision_init(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))


def digits_resnet() -> DigitsResNet:
    return DigitsResNet()


def _conv_bn_relu(in_ch: int, out_ch: int) -> list[nn.Module]:
    return [_conv3x3(in_ch, out_ch), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]


def digits_cnn() -> nn.Sequential:
    """VGG-style CNN for 1x16x16 digits.  The flatten is over 16x4x4 (not
    1x1 spatial), so a compiler that gets CHW vs HWC order wrong fails here."""
    return nn.Sequential(
        *_conv_bn_relu(1, 8),
        *_conv_bn_relu(8, 8),
        nn.MaxPool2d(2),
        *_conv_bn_relu(8, 16),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 32),
        nn.ReLU(inplace=True),
        nn.Linear(32, 10),
    )


def digits_mlp() -> nn.Sequential:
    """Plain MLP over the raw 8x8 digits flattened to 64 features."""
    return nn.Sequential(
        nn.Linear(64, 32),
        nn.ReLU(inplace=True),
        nn.Linear(32, 32),
        nn.ReLU(inplace=True),
        nn.Linear(32, 10),
    )


class InvertedResidual(nn.Module):
    """torchvision's MobileNetV2 block: 1x1 expand (unless the ratio is 1), 3x3 depthwise (groups = channels),
    1x1 linear projection, BatchNorm after each, ReLU6 after the first two; identity shortcut when the stride is 1
    and the width is kept."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = in_ch * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(in_ch, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
                   nn.ReLU6(inplace=True), nn.Conv2d(hidden, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch)]
        self.conv = nn.Sequential(*layers)
        self.use_res = stride == 1 and in_ch == out_ch

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x)
        return x + y if self.use_res else y


class DigitsMobileNet(nn.Module):
    """MobileNetV2-style network for 1x16x16 digits (~14K parameters): a 3x3 stem, inverted residuals
    (expansion 1 then 4; 16 -> 24 -> 32 channels, two of them downsampling by stride 2, two with identity
    shortcuts), a 1x1 head to 64 channels, global pool and classifier."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(inplace=True))
        self.blocks = nn.Sequential(InvertedResidual(16, 16, 1, 1), InvertedResidual(16, 24, 2, 4),
                                    InvertedResidual(24, 24, 1, 4), InvertedResidual(24, 32, 2, 4))
        self.head = nn.Sequential(nn.Conv2d(32, 64, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU6(inplace=True))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.fc(self.avgpool(x).flatten(1))


def digits_mobilenet() -> DigitsMobileNet:
    return DigitsMobileNet()


@dataclass(frozen=True)
class ModelSpec:
    """How to build a zoo model and what it consumes.

    ``input_shape`` includes the batch dimension (always 1: the hardware
    processes one sample at a time).  ``dataset`` names the training data
    (``"digits"``) or is ``None`` for random-weight models.
    """

    name: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    dataset: str | None
    description: str


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            "resnet18",
            resnet18,
            (1, 3, 224, 224),
            None,
            "torchvision ResNet-18 architecture, random init, BN stats recalibrated",
        ),
        ModelSpec(
            "digits_resnet",
            digits_resnet,
            (1, 1, 16, 16),
            "digits",
            "small ResNet (3 BasicBlocks, 16-32-64 channels, projection shortcuts) on 16x16 digits",
        ),
        ModelSpec(
            "digits_cnn",
            digits_cnn,
            (1, 1, 16, 16),
            "digits",
            "VGG-style CNN, flatten over 16x4x4, two dense layers, on 16x16 digits",
        ),
        ModelSpec(
            "digits_mlp",
            digits_mlp,
            (1, 64),
            "digits",
            "3-layer MLP on raw 8x8 digits flattened to 64",
        ),
        ModelSpec(
            "digits_mobilenet",
            digits_mobilenet,
            (1, 1, 16, 16),
            "digits",
            "MobileNetV2-style: inverted residuals with 3x3 depthwise convs and ReLU6, 16-24-32 channels, on 16x16 "
            "digits",
        ),
    ]
}
